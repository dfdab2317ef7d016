//! Uniform scaling as a plan of splits and merges.
//!
//! UpdateShardCount wants N open shards whose ranges split the key space evenly, as
//! CreateStream would. Strait gets there one step at a time, recomputing the next step
//! from the current open shards: first split every shard that straddles a target
//! boundary (at that boundary), then merge adjacent shards that lie inside the same
//! target range. Each step is an ordinary split or merge, so lineage stays complete and a
//! failure leaves a consistent stream that a repeated call continues from.

use strait_core::{HashKey, HashKeyRange, ShardId};

/// One split or merge towards the target ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalingStep {
    Split { shard: ShardId, at: HashKey },
    Merge { shard: ShardId, adjacent: ShardId },
}

/// The next step from `open` (the open shards, any order) towards `targets` (sorted,
/// tiling the key space), or `None` when `open` already equals `targets`.
pub fn next_scaling_step(open: &[(ShardId, HashKeyRange)], targets: &[HashKeyRange]) -> Option<ScalingStep> {
    let mut open = open.to_vec();
    open.sort_by_key(|(_, range)| range.start);
    // 1. A shard straddling a target boundary is split there. A split needs at least two
    //    keys on each side; target boundaries of an even division of 2^128 are far apart,
    //    so an open shard produced by this plan never fails that rule.
    for (shard, range) in &open {
        for target in targets {
            let boundary = target.start;
            if boundary.0 > range.start.0 && boundary.0 <= range.end.0 && range.split_at(boundary).is_ok() {
                return Some(ScalingStep::Split {
                    shard: *shard,
                    at: boundary,
                });
            }
        }
    }
    // 2. Two adjacent shards inside the same target range are merged.
    for pair in open.windows(2) {
        let ((first, a), (second, b)) = (pair[0], pair[1]);
        let same_target = targets.iter().any(|t| t.contains(a.start) && t.contains(b.end));
        if same_target {
            return Some(ScalingStep::Merge {
                shard: first,
                adjacent: second,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies steps until done, numbering new shards like the control plane does.
    fn scale(from: u32, to: u32) -> (Vec<HashKeyRange>, usize) {
        let mut open: Vec<(ShardId, HashKeyRange)> = HashKeyRange::even_split(from)
            .into_iter()
            .enumerate()
            .map(|(i, r)| (ShardId(i as u32), r))
            .collect();
        let mut next = from;
        let targets = HashKeyRange::even_split(to);
        let mut steps = 0;
        while let Some(step) = next_scaling_step(&open, &targets) {
            steps += 1;
            assert!(steps < 1000, "scaling must terminate");
            match step {
                ScalingStep::Split { shard, at } => {
                    let i = open.iter().position(|(s, _)| *s == shard).unwrap();
                    let (low, high) = open[i].1.split_at(at).unwrap();
                    open.remove(i);
                    open.push((ShardId(next), low));
                    open.push((ShardId(next + 1), high));
                    next += 2;
                }
                ScalingStep::Merge { shard, adjacent } => {
                    let a = open.iter().find(|(s, _)| *s == shard).unwrap().1;
                    let b = open.iter().find(|(s, _)| *s == adjacent).unwrap().1;
                    open.retain(|(s, _)| *s != shard && *s != adjacent);
                    open.push((ShardId(next), a.merge(b).unwrap()));
                    next += 1;
                }
            }
        }
        let mut ranges: Vec<HashKeyRange> = open.into_iter().map(|(_, r)| r).collect();
        ranges.sort_by_key(|r| r.start);
        (ranges, steps)
    }

    #[test]
    fn scaling_reaches_the_even_division_in_every_direction() {
        for (from, to) in [
            (1, 2),
            (2, 4),
            (3, 5),
            (4, 3),
            (5, 3),
            (4, 2),
            (6, 12),
            (10, 7),
            (7, 10),
        ] {
            let (ranges, steps) = scale(from, to);
            assert_eq!(ranges, HashKeyRange::even_split(to), "{from} -> {to}");
            assert!(
                steps <= (from + to) as usize * 2,
                "{from} -> {to} took {steps} steps"
            );
        }
    }

    #[test]
    fn an_even_stream_needs_no_step() {
        let open: Vec<_> = HashKeyRange::even_split(4)
            .into_iter()
            .enumerate()
            .map(|(i, r)| (ShardId(i as u32), r))
            .collect();
        assert_eq!(next_scaling_step(&open, &HashKeyRange::even_split(4)), None);
    }
}
