//! The few metric primitives the node records, and the Prometheus text format they are
//! rendered in.
//!
//! A process may run several nodes (tests, the simulation), so there is no global
//! registry: every node owns its metrics and renders them itself. Recording is a handful
//! of relaxed atomic operations; everything else (label values, cumulative buckets,
//! escaping) happens at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency bucket bounds in seconds: from half a millisecond (a local commit on a fast
/// disk) to ten seconds (a request that waited out an election).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram over [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket, not cumulative; the last counts those above every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

/// One label, `name="value"`.
pub type Label<'a> = (&'a str, &'a str);

/// Builds one exposition: each family's `# HELP` and `# TYPE` once, then its samples.
///
/// Families must be written one at a time (all samples of a family right after its
/// header), which the callers do by iterating per family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// The kind of a metric family.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Exposition {
    /// Starts a family. Counter names end in `_total`, as the format expects.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[Label<'_>], value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// The samples of one histogram: cumulative buckets, sum and count.
    pub fn histogram(&mut self, name: &str, labels: &[Label<'_>], histogram: &Histogram) {
        let mut cumulative = 0;
        for (i, bucket) in histogram.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let bound = match LATENCY_BUCKETS.get(i) {
                Some(bound) => bound.to_string(),
                None => "+Inf".to_owned(),
            };
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(("le", &bound)));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(self.out, "{name}_sum");
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, sum);
        self.out.push('\n');
        let _ = write!(self.out, "{name}_count");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {cumulative}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[Label<'_>], extra: Option<Label<'_>>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in labels.iter().chain(extra.as_ref()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(300));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        assert_eq!(histogram.count(), 3);
        let mut exposition = Exposition::default();
        exposition.family("strait_x_seconds", Kind::Histogram, "A test.");
        exposition.histogram("strait_x_seconds", &[("group", "7")], &histogram);
        let text = exposition.finish();
        assert!(text.starts_with("# HELP strait_x_seconds A test.\n# TYPE strait_x_seconds histogram\n"));
        assert!(
            text.contains("strait_x_seconds_bucket{group=\"7\",le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("strait_x_seconds_bucket{group=\"7\",le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("strait_x_seconds_bucket{group=\"7\",le=\"10\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("strait_x_seconds_bucket{group=\"7\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("strait_x_seconds_sum{group=\"7\"} 60.0033\n"),
            "{text}"
        );
        assert!(text.contains("strait_x_seconds_count{group=\"7\"} 3\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut exposition = Exposition::default();
        exposition.family("strait_y", Kind::Gauge, "Back\\slash.");
        exposition.sample("strait_y", &[("stream", "a\"b\\c\nd")], 1.5);
        exposition.sample("strait_y", &[], f64::INFINITY);
        assert_eq!(
            exposition.finish(),
            "# HELP strait_y Back\\\\slash.\n# TYPE strait_y gauge\n\
             strait_y{stream=\"a\\\"b\\\\c\\nd\"} 1.5\nstrait_y +Inf\n"
        );
    }
}
