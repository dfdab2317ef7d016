//! Checks a chaos run's history: every acknowledged record is stored exactly once, where its
//! acknowledgement said, in per-shard order; the continuous reader saw each shard as one
//! gap-free prefix of its final order; nothing appears that no producer wrote. Also measures
//! how long writes failed around each fault.
//!
//! A pure function of the history, so its own tests feed it broken histories.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::history::{Event, Fault};

/// How many examples of each anomaly the report keeps.
const EXAMPLES: usize = 5;

/// The outcome of a check.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Records the cluster acknowledged.
    pub acknowledged: usize,
    /// Acknowledged records found exactly once, at their acknowledged shard and sequence
    /// number, with their key and data.
    pub verified: usize,
    /// Records whose outcome the producers never learned, and how many of them are stored.
    pub unknown: usize,
    pub unknown_stored: usize,
    /// Records in the final read of every shard.
    pub final_records: usize,
    /// Records the continuous reader received.
    pub read_records: usize,
    /// Anomaly name → (count, examples).
    pub anomalies: BTreeMap<&'static str, (usize, Vec<String>)>,
    /// One entry per fault, in order.
    pub faults: Vec<FaultOutage>,
    /// The longest a batch waited for its acknowledgement before the first fault, for
    /// comparison.
    pub baseline_outage_ms: u64,
}

/// How writes fared during one fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultOutage {
    pub kind: String,
    pub node: usize,
    /// From injecting the fault to the cluster being ready again.
    pub duration_ms: u64,
    /// The longest a producer waited from sending a batch to its acknowledgement (through
    /// retries and failovers), among batches held up mostly during this fault.
    pub longest_producer_outage_ms: u64,
    /// The longest time no producer got any acknowledgement, between injecting the fault
    /// and the cluster being ready again.
    pub longest_global_gap_ms: u64,
    pub acked_during: u64,
    /// Writes that failed (errors and timeouts) from injecting the fault to recovery, and
    /// the kinds of error seen.
    pub failed_attempts: usize,
    pub errors: Vec<String>,
}

impl Report {
    fn anomaly(&mut self, name: &'static str, example: impl FnOnce() -> String) {
        let entry = self.anomalies.entry(name).or_default();
        entry.0 += 1;
        if entry.1.len() < EXAMPLES {
            entry.1.push(example());
        }
    }

    /// Whether the history is consistent (outages are measurements, not failures).
    pub fn passed(&self) -> bool {
        self.anomalies.is_empty()
    }
}

/// Sequence numbers are decimal strings of up to 128 bits' worth of digits: compare them as
/// numbers without parsing.
fn seq_order(seq: &str) -> (usize, &str) {
    (seq.len(), seq)
}

/// Checks `events` (one run's history) against `faults` (the faults injected during it).
pub fn check(events: &[Event], faults: &[Fault]) -> Report {
    let mut report = Report::default();

    // The final read is the order of record: per shard, strictly increasing.
    let mut final_at: BTreeMap<(&str, &str), (&str, &str)> = BTreeMap::new();
    let mut stored: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    let mut final_shards: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for event in events {
        let Event::Final { shard, records } = event else {
            continue;
        };
        let order = final_shards.entry(shard).or_default();
        for (seq, key, data) in records {
            if let Some(&(previous, _)) = order.last()
                && seq_order(seq) <= seq_order(previous)
            {
                report.anomaly("final-order", || format!("{shard}: {seq} after {previous}"));
            }
            order.push((seq, data));
            final_at.insert((shard, seq), (key, data));
            stored.entry(data).or_default().push((shard, seq));
            report.final_records += 1;
        }
    }
    for (data, places) in &stored {
        if places.len() > 1 {
            report.anomaly("duplicate", || {
                format!("{data} stored {} times: {places:?}", places.len())
            });
        }
    }

    // Every acknowledgement: stored once, where the ack said, and in producer order.
    let mut written: BTreeSet<&str> = BTreeSet::new();
    let mut acked_at: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    let mut producer_tip: BTreeMap<(u32, &str), &str> = BTreeMap::new();
    for event in events {
        match event {
            Event::Ack {
                producer,
                key,
                data,
                shard,
                seq,
                ..
            } => {
                report.acknowledged += 1;
                written.insert(data);
                if let Some(other) = acked_at.insert((shard, seq), data)
                    && other != data
                {
                    report.anomaly("inconsistent", || {
                        format!("{shard} {seq} acked for {other} and {data}")
                    });
                }
                if let Some(previous) = producer_tip.insert((*producer, shard), seq)
                    && seq_order(seq) <= seq_order(previous)
                {
                    report.anomaly("producer-order", || {
                        format!("producer {producer} on {shard}: {data} acked at {seq}, after {previous}")
                    });
                }
                match stored.get(data.as_str()).map(Vec::as_slice) {
                    None | Some([]) => report.anomaly("lost", || format!("{data} acked at {shard} {seq}")),
                    Some([(s, q)]) if *s == shard && *q == seq => {
                        if final_at.get(&(shard.as_str(), seq.as_str())).map(|(k, _)| *k)
                            == Some(key.as_str())
                        {
                            report.verified += 1;
                        } else {
                            report.anomaly("ack-mismatch", || format!("{data}: stored under another key"));
                        }
                    }
                    Some([(s, q)]) => report.anomaly("ack-mismatch", || {
                        format!("{data} acked at {shard} {seq}, stored at {s} {q}")
                    }),
                    Some(_) => {} // reported as a duplicate
                }
            }
            Event::Unknown { data, .. } => {
                report.unknown += 1;
                written.insert(data);
                if stored.contains_key(data.as_str()) {
                    report.unknown_stored += 1;
                }
            }
            _ => {}
        }
    }
    for data in stored.keys() {
        if !written.contains(data) {
            report.anomaly("phantom", || format!("{data} is stored but no producer wrote it"));
        }
    }

    // The reader's answers for each shard, joined, must be a prefix of the final order:
    // anything else is a skipped, repeated, reordered or changed record.
    let mut read_so_far: BTreeMap<&str, usize> = BTreeMap::new();
    for event in events {
        let Event::Read { shard, records, .. } = event else {
            continue;
        };
        let order = final_shards
            .get(shard.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let position = read_so_far.entry(shard).or_default();
        for (seq, data) in records {
            report.read_records += 1;
            match order.get(*position) {
                Some(&(s, d)) if s == seq && d == data => *position += 1,
                expected => {
                    report.anomaly("reader-gap", || {
                        format!("{shard}: read {seq} ({data}) where the final order has {expected:?}")
                    });
                    // Resynchronise on the record read, so one gap is reported once.
                    *position = order
                        .iter()
                        .position(|(s, _)| s == seq)
                        .map_or(*position, |p| p + 1);
                }
            }
        }
    }

    measure_outages(events, faults, &mut report);
    report
}

/// Per batch, the time from sending it to its last acknowledgement: how long that
/// producer's writes were held up, through retries, timeouts and failovers.
fn batch_waits(events: &[Event]) -> Vec<(u64, u64)> {
    let mut batches: BTreeMap<(u32, u64), u64> = BTreeMap::new();
    for event in events {
        if let Event::Ack {
            producer, invoke, at, ..
        } = event
        {
            let last = batches.entry((*producer, *invoke)).or_default();
            *last = (*last).max(*at);
        }
    }
    batches
        .into_iter()
        .map(|((_, invoke), at)| (invoke, at))
        .collect()
}

/// How much of `[a, b]` lies within `[c, d]`.
fn overlap((a, b): (u64, u64), (c, d): (u64, u64)) -> u64 {
    b.min(d).saturating_sub(a.max(c))
}

fn measure_outages(events: &[Event], faults: &[Fault], report: &mut Report) {
    let mut longest = vec![0u64; faults.len()];
    for (invoke, at) in batch_waits(events) {
        let wait = at - invoke;
        // Blamed on the fault it overlaps most; a wait that overlaps none is the baseline.
        let blamed = faults
            .iter()
            .enumerate()
            .map(|(i, f)| (overlap((invoke, at), (f.start, f.recovered.max(f.start))), i))
            .filter(|(o, _)| *o > 0)
            .max();
        match blamed {
            Some((_, i)) => longest[i] = longest[i].max(wait),
            None if faults.first().is_none_or(|f| at < f.start) => {
                report.baseline_outage_ms = report.baseline_outage_ms.max(wait)
            }
            None => {}
        }
    }
    let mut acks: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Ack { at, .. } => Some(*at),
            _ => None,
        })
        .collect();
    acks.sort_unstable();
    for (i, fault) in faults.iter().enumerate() {
        let window = fault.start..=fault.recovered.max(fault.start);
        let mut points = vec![fault.start];
        points.extend(acks.iter().copied().filter(|t| window.contains(t)));
        points.push(*window.end());
        let mut errors: BTreeSet<String> = BTreeSet::new();
        let mut failed_attempts = 0;
        for event in events {
            if let Event::Attempt {
                end,
                ok: false,
                error,
                ..
            } = event
                && window.contains(end)
            {
                failed_attempts += 1;
                errors.insert(error.split(':').next().unwrap_or_default().to_string());
            }
        }
        report.faults.push(FaultOutage {
            kind: fault.kind.clone(),
            node: fault.node,
            duration_ms: fault.recovered.saturating_sub(fault.start),
            longest_producer_outage_ms: longest[i],
            longest_global_gap_ms: points.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0),
            acked_during: fault.acked_during,
            failed_attempts,
            errors: errors.into_iter().collect(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: u64) -> String {
        format!("{n:056}")
    }

    fn ack(producer: u32, data: &str, shard: &str, n: u64, at: u64) -> Event {
        Event::Ack {
            producer,
            invoke: at - 1,
            at,
            key: format!("k-{producer}"),
            data: data.into(),
            shard: shard.into(),
            seq: seq(n),
        }
    }

    fn stored(shard: &str, records: &[(u64, u32, &str)]) -> Event {
        Event::Final {
            shard: shard.into(),
            records: records
                .iter()
                .map(|(n, p, d)| (seq(*n), format!("k-{p}"), d.to_string()))
                .collect(),
        }
    }

    fn read(shard: &str, records: &[(u64, &str)]) -> Event {
        Event::Read {
            at: 0,
            shard: shard.into(),
            records: records.iter().map(|(n, d)| (seq(*n), d.to_string())).collect(),
        }
    }

    fn good() -> Vec<Event> {
        vec![
            ack(1, "p1-0", "s0", 10, 100),
            ack(1, "p1-1", "s0", 20, 110),
            ack(2, "p2-0", "s1", 5, 105),
            read("s0", &[(10, "p1-0")]),
            read("s0", &[(20, "p1-1")]),
            stored("s0", &[(10, 1, "p1-0"), (20, 1, "p1-1")]),
            stored("s1", &[(5, 2, "p2-0")]),
        ]
    }

    fn names(report: &Report) -> Vec<&'static str> {
        report.anomalies.keys().copied().collect()
    }

    #[test]
    fn a_consistent_history_passes() {
        let report = check(&good(), &[]);
        assert!(report.passed(), "{:?}", report.anomalies);
        assert_eq!(
            (report.acknowledged, report.verified, report.read_records),
            (3, 3, 2)
        );
    }

    #[test]
    fn an_acknowledged_record_missing_from_the_final_read_is_lost() {
        let mut events = good();
        events[6] = stored("s1", &[]);
        assert_eq!(names(&check(&events, &[])), ["lost"]);
    }

    #[test]
    fn a_record_stored_twice_is_a_duplicate() {
        let mut events = good();
        events[6] = stored("s1", &[(5, 2, "p2-0"), (6, 2, "p2-0")]);
        assert_eq!(names(&check(&events, &[])), ["duplicate"]);
    }

    #[test]
    fn a_record_stored_elsewhere_than_acknowledged_is_a_mismatch() {
        let mut events = good();
        events[6] = stored("s1", &[(6, 2, "p2-0")]);
        assert_eq!(names(&check(&events, &[])), ["ack-mismatch"]);
    }

    #[test]
    fn acknowledgements_going_backwards_break_producer_order() {
        let mut events = good();
        events[1] = ack(1, "p1-1", "s0", 9, 110);
        events[5] = stored("s0", &[(9, 1, "p1-1"), (10, 1, "p1-0")]);
        events.retain(|e| !matches!(e, Event::Read { .. }));
        assert_eq!(names(&check(&events, &[])), ["producer-order"]);
    }

    #[test]
    fn a_final_read_out_of_order_is_reported() {
        let mut events = good();
        events[5] = stored("s0", &[(20, 1, "p1-1"), (10, 1, "p1-0")]);
        events.retain(|e| !matches!(e, Event::Read { .. }));
        assert_eq!(names(&check(&events, &[])), ["final-order"]);
    }

    #[test]
    fn a_reader_skipping_a_record_is_reported() {
        let mut events = good();
        events[3] = read("s0", &[(20, "p1-1")]);
        events[4] = read("s0", &[]);
        assert_eq!(names(&check(&events, &[])), ["reader-gap"]);
    }

    #[test]
    fn a_record_nobody_wrote_is_a_phantom() {
        let mut events = good();
        events[6] = stored("s1", &[(5, 2, "p2-0"), (7, 9, "p9-0")]);
        assert_eq!(names(&check(&events, &[])), ["phantom"]);
    }

    #[test]
    fn an_unknown_outcome_may_be_stored_once() {
        let mut events = good();
        events.push(Event::Unknown {
            producer: 9,
            key: "k-9".into(),
            data: "p9-0".into(),
        });
        events[6] = stored("s1", &[(5, 2, "p2-0"), (7, 9, "p9-0")]);
        let report = check(&events, &[]);
        assert!(report.passed(), "{:?}", report.anomalies);
        assert_eq!((report.unknown, report.unknown_stored), (1, 1));
    }

    #[test]
    fn outages_are_blamed_on_the_fault_they_overlap_most() {
        let batch = |producer, invoke, at, data: &str| Event::Ack {
            producer,
            invoke,
            at,
            key: "k".into(),
            data: data.into(),
            shard: "s0".into(),
            seq: seq(at),
        };
        let failed = |end| Event::Attempt {
            producer: 1,
            start: end - 1,
            end,
            node: 2,
            ok: false,
            error: "Unavailable: disk nearly full".into(),
        };
        let events = vec![
            batch(1, 0, 30, "a"),
            batch(1, 880, 2100, "b"), // began just before the first fault
            batch(1, 880, 2000, "c"), // same batch, acknowledged earlier
            batch(2, 1200, 1400, "d"),
            batch(2, 2600, 3700, "e"), // mostly in the second fault
            failed(1500),
            failed(3100),
            failed(3200),
        ];
        let fault = |kind: &str, start, recovered| Fault {
            kind: kind.into(),
            node: 1,
            start,
            healed: start,
            recovered,
            acked_during: 0,
        };
        let report = check(
            &events,
            &[fault("kill9", 900, 2500), fault("disk-full", 3000, 6000)],
        );
        assert_eq!(report.baseline_outage_ms, 30);
        let f = &report.faults;
        assert_eq!(
            (f[0].longest_producer_outage_ms, f[1].longest_producer_outage_ms),
            (1220, 1100)
        );
        assert_eq!(
            (f[0].longest_global_gap_ms, f[1].longest_global_gap_ms),
            (600, 2300)
        );
        assert_eq!((f[0].failed_attempts, f[1].failed_attempts), (1, 2));
        assert_eq!(f[1].errors, ["Unavailable"]);
    }
}
