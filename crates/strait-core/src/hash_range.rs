//! Inclusive ranges of hash keys, and the arithmetic of creating, splitting and merging shards.
//!
//! Every shard owns one [`HashKeyRange`], inclusive at both ends. The central invariant of a
//! stream is that its open shards' ranges tile the whole space `[0, 2^128 - 1]`: every hash
//! key belongs to exactly one open shard, so every record has exactly one place to go. The
//! KCL checks this (`Hash range of shards returned for <stream> was incomplete`) and the
//! simulation checks it after every step, with [`check_coverage`].
//!
//! The three operations that change a stream's shards preserve the invariant by construction:
//!
//! ```text
//! CreateStream(n)   [0 ............................................. 2^128-1]
//!                   [0, s-1] [s, 2s-1] ... [(n-1)s, 2^128-1]      s = floor(2^128 / n)
//!
//! SplitShard(k)     [start ................................. end]
//!                   [start ........ k-1] [k ................ end]  start+1 < k < end
//!
//! MergeShards       [a ....... b] [b+1 ....... c]
//!                   [a ....................... c]                   adjacent only
//! ```
//!
//! The rules are Kinesis's own, including its slightly odd split bound (the key must exceed
//! `start + 1`, not merely `start`), so that a split or merge Kinesis accepts is accepted here
//! and vice versa. All arithmetic stays within `u128`: 2^128 itself never appears.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hash_key::HashKey;

/// An inclusive range of hash keys, `start ..= end`.
///
/// The fields are public so that ranges can be built from stored data; a range with
/// `start > end` is malformed, and [`check_coverage`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HashKeyRange {
    /// The lowest key in the range (Kinesis's StartingHashKey).
    pub start: HashKey,
    /// The highest key in the range (Kinesis's EndingHashKey).
    pub end: HashKey,
}

impl HashKeyRange {
    /// The whole hash key space, `[0, 2^128 - 1]`.
    pub const FULL: HashKeyRange = HashKeyRange {
        start: HashKey::MIN,
        end: HashKey::MAX,
    };

    /// Returns the range `start ..= end`, or `None` if `start > end`.
    pub const fn new(start: HashKey, end: HashKey) -> Option<HashKeyRange> {
        if start.0 <= end.0 {
            Some(HashKeyRange { start, end })
        } else {
            None
        }
    }

    /// Tells whether `key` lies in the range.
    pub fn contains(&self, key: HashKey) -> bool {
        self.start <= key && key <= self.end
    }

    /// Returns the number of keys in the range minus one (`end - start`). The count itself
    /// does not fit a `u128` for the full range.
    pub fn width(&self) -> u128 {
        self.end.0.saturating_sub(self.start.0)
    }

    /// Divides the whole space into `n` ranges exactly as CreateStream does.
    ///
    /// With `step = floor(2^128 / n)`, range `i` is `[i * step, (i + 1) * step - 1]` and the
    /// last range ends at `2^128 - 1`, absorbing the remainder. `n = 0` yields no ranges.
    pub fn even_split(n: u32) -> Vec<HashKeyRange> {
        if n == 0 {
            return Vec::new();
        }
        let n128 = u128::from(n);
        let step = floor_two_pow_128_div(n128);
        (0..n128)
            .map(|i| {
                let start = i * step;
                let end = if i + 1 == n128 {
                    u128::MAX
                } else {
                    // (i + 1) * step <= (n - 1) * step < 2^128 for every range but the last.
                    (i + 1) * step - 1
                };
                HashKeyRange {
                    start: HashKey(start),
                    end: HashKey(end),
                }
            })
            .collect()
    }

    /// Splits the range at `key` into `[start, key - 1]` and `[key, end]`, as SplitShard does
    /// with its NewStartingHashKey.
    ///
    /// Kinesis accepts the key only when it is greater than `start + 1` and less than `end`,
    /// so each child holds at least two keys; any other key is a [`SplitError`], which the
    /// caller reports with [`StraitError::invalid_split_key`](crate::StraitError::invalid_split_key).
    pub fn split_at(&self, key: HashKey) -> Result<(HashKeyRange, HashKeyRange), SplitError> {
        // `start + 1` saturates at the top of the space, where no key can exceed it anyway.
        if key.0 > self.start.0.saturating_add(1) && key < self.end {
            let lower = HashKeyRange {
                start: self.start,
                end: HashKey(key.0 - 1),
            };
            let upper = HashKeyRange {
                start: key,
                end: self.end,
            };
            Ok((lower, upper))
        } else {
            Err(SplitError::NotStrictlyInside { key, range: *self })
        }
    }

    /// Tells whether [`split_at`](Self::split_at) accepts some key, i.e. whether the range
    /// holds at least four keys.
    pub fn is_splittable(&self) -> bool {
        self.start <= self.end && self.width() >= 3
    }

    /// Returns the usual split key: the start of the upper half, `start + ceil(width / 2)`.
    ///
    /// For the full space this is 2^127, and repeated halving reproduces the boundaries of
    /// [`even_split`](Self::even_split) for powers of two. It is a valid argument to
    /// [`split_at`](Self::split_at) whenever [`is_splittable`](Self::is_splittable) holds.
    pub fn midpoint(&self) -> HashKey {
        let width = self.width();
        HashKey(self.start.0 + (width - width / 2))
    }

    /// Tells whether the two ranges are adjacent, in either order: one ends exactly one key
    /// before the other starts. This is MergeShards' eligibility rule.
    pub fn is_adjacent(&self, other: HashKeyRange) -> bool {
        let touches =
            |low: &HashKeyRange, high: &HashKeyRange| low.end.0.checked_add(1) == Some(high.start.0);
        touches(self, &other) || touches(&other, self)
    }

    /// Returns the union of two adjacent ranges, in either order, or `None` if they are not
    /// adjacent. This is the range of the child MergeShards creates.
    pub fn merge(&self, other: HashKeyRange) -> Option<HashKeyRange> {
        if !self.is_adjacent(other) {
            return None;
        }
        Some(HashKeyRange {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        })
    }
}

/// Computes floor(2^128 / n) for `n >= 1` without ever forming 2^128.
///
/// Write 2^128 - 1 = q * n + r. Then 2^128 = q * n + (r + 1), and since r + 1 <= n the floor
/// is q + 1 when r + 1 = n (n divides 2^128) and q otherwise. For n = 1 the result, 2^128,
/// does not fit; the caller never needs it, since the single range is the whole space.
fn floor_two_pow_128_div(n: u128) -> u128 {
    debug_assert!(n >= 1);
    let q = u128::MAX / n;
    let r = u128::MAX % n;
    if r + 1 == n { q.saturating_add(1) } else { q }
}

impl fmt::Display for HashKeyRange {
    /// Renders `[start, end]` in decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.start, self.end)
    }
}

/// Why a key cannot split a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The key is not both greater than `start + 1` and less than `end`.
    #[error(
        "split key {key} is not both greater than one plus the range's start and less than the \
         range's end {range}"
    )]
    NotStrictlyInside {
        /// The rejected key.
        key: HashKey,
        /// The range that was to be split.
        range: HashKeyRange,
    },
}

/// How a set of ranges fails to tile the hash key space exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CoverageError {
    /// A range starts after it ends.
    #[error("hash key range {range} starts after it ends")]
    Inverted {
        /// The malformed range.
        range: HashKeyRange,
    },
    /// No range covers these keys. With no ranges at all, the gap is the whole space.
    #[error("hash keys {missing} are not covered by any range")]
    Gap {
        /// The first run of uncovered keys.
        missing: HashKeyRange,
    },
    /// Two ranges share keys.
    #[error("hash key ranges {first} and {second} overlap")]
    Overlap {
        /// The range that starts first (or, on a tie, ends first).
        first: HashKeyRange,
        /// The range that overlaps it.
        second: HashKeyRange,
    },
}

/// Checks that `ranges`, in any order, cover `[0, 2^128 - 1]` exactly once: no gap, no
/// overlap, no malformed range. Reports the first problem in key order.
pub fn check_coverage(ranges: &[HashKeyRange]) -> Result<(), CoverageError> {
    if let Some(range) = ranges.iter().find(|r| r.start > r.end) {
        return Err(CoverageError::Inverted { range: *range });
    }
    let mut sorted = ranges.to_vec();
    sorted.sort();
    // The next key that must be covered; `None` once the top of the space is covered.
    let mut next: Option<u128> = Some(0);
    let mut previous: Option<HashKeyRange> = None;
    for range in sorted {
        match next {
            None => {
                return Err(CoverageError::Overlap {
                    // `next` only becomes `None` after a range was seen, so `previous` is set.
                    first: previous.unwrap_or(range),
                    second: range,
                });
            }
            Some(expected) if range.start.0 > expected => {
                return Err(CoverageError::Gap {
                    missing: HashKeyRange {
                        start: HashKey(expected),
                        end: HashKey(range.start.0 - 1),
                    },
                });
            }
            Some(expected) if range.start.0 < expected => {
                return Err(CoverageError::Overlap {
                    // `expected` is above 0 only after a range was seen, so `previous` is set.
                    first: previous.unwrap_or(range),
                    second: range,
                });
            }
            Some(_) => {}
        }
        next = range.end.0.checked_add(1);
        previous = Some(range);
    }
    match next {
        None => Ok(()),
        Some(expected) => Err(CoverageError::Gap {
            missing: HashKeyRange {
                start: HashKey(expected),
                end: HashKey::MAX,
            },
        }),
    }
}

impl HashKeyRange {
    /// Checks that `ranges` tile the whole space exactly once; see [`check_coverage`].
    pub fn check_coverage(ranges: &[HashKeyRange]) -> Result<(), CoverageError> {
        check_coverage(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(start: u128, end: u128) -> HashKeyRange {
        HashKeyRange::new(HashKey(start), HashKey(end)).expect("start <= end")
    }

    fn parse(text: &str) -> u128 {
        text.parse().expect("decimal")
    }

    #[test]
    fn even_split_matches_the_kinesis_table() {
        assert_eq!(HashKeyRange::even_split(1), vec![HashKeyRange::FULL]);
        assert_eq!(
            HashKeyRange::even_split(2),
            vec![
                range(0, parse("170141183460469231731687303715884105727")),
                range(parse("170141183460469231731687303715884105728"), u128::MAX),
            ]
        );
        assert_eq!(
            HashKeyRange::even_split(3),
            vec![
                range(0, parse("113427455640312821154458202477256070484")),
                range(
                    parse("113427455640312821154458202477256070485"),
                    parse("226854911280625642308916404954512140969")
                ),
                range(parse("226854911280625642308916404954512140970"), u128::MAX),
            ]
        );
        let four: Vec<u128> = HashKeyRange::even_split(4)
            .iter()
            .skip(1)
            .map(|r| r.start.0)
            .collect();
        assert_eq!(
            four,
            vec![
                parse("85070591730234615865843651857942052864"),
                parse("170141183460469231731687303715884105728"),
                parse("255211775190703847597530955573826158592"),
            ]
        );
        assert!(HashKeyRange::even_split(0).is_empty());
    }

    #[test]
    fn even_split_routes_the_kinesis_test_vectors() {
        let shards = HashKeyRange::even_split(3);
        let shard_of = |key: &str| {
            let hash = HashKey::from_partition_key(key);
            shards.iter().position(|r| r.contains(hash))
        };
        assert_eq!(shard_of("a"), Some(0));
        assert_eq!(shard_of("b"), Some(1));
        assert_eq!(shard_of("e"), Some(2));
        assert_eq!(shard_of("f"), Some(1));
        assert!(shards[2].contains(HashKey::MAX));
    }

    #[test]
    fn split_follows_the_kinesis_bounds() {
        let parent = range(10, 20);
        assert!(parent.split_at(HashKey(11)).is_err(), "must exceed start + 1");
        assert!(parent.split_at(HashKey(10)).is_err());
        assert!(parent.split_at(HashKey(20)).is_err(), "must be below end");
        assert!(parent.split_at(HashKey(21)).is_err());
        assert_eq!(parent.split_at(HashKey(12)), Ok((range(10, 11), range(12, 20))));
        assert_eq!(parent.split_at(HashKey(19)), Ok((range(10, 18), range(19, 20))));
        let top = range(u128::MAX, u128::MAX);
        assert!(top.split_at(HashKey::MAX).is_err());
        assert!(!top.is_splittable());
    }

    #[test]
    fn midpoint_of_the_full_space_is_two_to_the_127() {
        assert_eq!(HashKeyRange::FULL.midpoint(), HashKey(1 << 127));
        let (lower, upper) = HashKeyRange::FULL
            .split_at(HashKeyRange::FULL.midpoint())
            .expect("valid split");
        assert_eq!(vec![lower, upper], HashKeyRange::even_split(2));
        let (a, b) = lower.split_at(lower.midpoint()).expect("valid split");
        let (c, d) = upper.split_at(upper.midpoint()).expect("valid split");
        assert_eq!(vec![a, b, c, d], HashKeyRange::even_split(4));
    }

    #[test]
    fn small_ranges_split_only_from_four_keys() {
        assert!(!range(0, 2).is_splittable());
        assert!(range(0, 3).is_splittable());
        assert_eq!(
            range(0, 3).split_at(range(0, 3).midpoint()),
            Ok((range(0, 1), range(2, 3)))
        );
        // midpoint never panics, even on ranges that cannot be split.
        assert_eq!(range(5, 5).midpoint(), HashKey(5));
        assert_eq!(range(u128::MAX - 1, u128::MAX).midpoint(), HashKey::MAX);
    }

    #[test]
    fn merge_requires_adjacency_in_either_order() {
        let a = range(0, 9);
        let b = range(10, 20);
        assert!(a.is_adjacent(b) && b.is_adjacent(a));
        assert_eq!(a.merge(b), Some(range(0, 20)));
        assert_eq!(b.merge(a), Some(range(0, 20)));
        assert_eq!(a.merge(range(11, 20)), None);
        assert_eq!(a.merge(range(9, 20)), None);
        assert_eq!(a.merge(a), None);
        let top = range(5, u128::MAX);
        assert!(!top.is_adjacent(range(0, 0)));
        assert_eq!(range(0, 4).merge(top), Some(HashKeyRange::FULL));
    }

    #[test]
    fn coverage_reports_gaps_overlaps_and_inversions() {
        assert_eq!(check_coverage(&[HashKeyRange::FULL]), Ok(()));
        assert_eq!(
            check_coverage(&[]),
            Err(CoverageError::Gap {
                missing: HashKeyRange::FULL
            })
        );
        assert_eq!(
            check_coverage(&[range(11, u128::MAX), range(0, 9)]),
            Err(CoverageError::Gap {
                missing: range(10, 10)
            })
        );
        assert_eq!(
            check_coverage(&[range(0, 9)]),
            Err(CoverageError::Gap {
                missing: range(10, u128::MAX)
            })
        );
        assert_eq!(
            check_coverage(&[range(1, u128::MAX)]),
            Err(CoverageError::Gap { missing: range(0, 0) })
        );
        assert_eq!(
            check_coverage(&[range(0, 10), range(10, u128::MAX)]),
            Err(CoverageError::Overlap {
                first: range(0, 10),
                second: range(10, u128::MAX)
            })
        );
        assert_eq!(
            check_coverage(&[HashKeyRange::FULL, range(7, 8)]),
            Err(CoverageError::Overlap {
                first: HashKeyRange::FULL,
                second: range(7, 8)
            })
        );
        assert_eq!(
            check_coverage(&[HashKeyRange::FULL, HashKeyRange::FULL]),
            Err(CoverageError::Overlap {
                first: HashKeyRange::FULL,
                second: HashKeyRange::FULL
            })
        );
        let inverted = HashKeyRange {
            start: HashKey(5),
            end: HashKey(4),
        };
        assert_eq!(
            check_coverage(&[HashKeyRange::FULL, inverted]),
            Err(CoverageError::Inverted { range: inverted })
        );
    }

    #[test]
    fn serializes_keys_as_strings() {
        let json = serde_json::to_string(&range(1, 2)).expect("serializes");
        assert_eq!(json, r#"{"start":"1","end":"2"}"#);
    }

    /// A range that can be split, with a key that splits it.
    fn splittable_range_and_key() -> impl Strategy<Value = (HashKeyRange, HashKey)> {
        (any::<u128>(), any::<u128>())
            .prop_filter("needs four keys", |(a, b)| a.abs_diff(*b) >= 3)
            .prop_flat_map(|(a, b)| {
                let (start, end) = (a.min(b), a.max(b));
                ((start + 2)..end).prop_map(move |key| (range(start, end), HashKey(key)))
            })
    }

    proptest! {
        #[test]
        fn even_split_tiles_the_space(n in 1u32..=2_000) {
            let ranges = HashKeyRange::even_split(n);
            prop_assert_eq!(ranges.len(), n as usize);
            prop_assert_eq!(check_coverage(&ranges), Ok(()));
            // Every range but the last has the same width; the last is at least as wide.
            let width = ranges[0].width();
            for r in &ranges[..ranges.len() - 1] {
                prop_assert_eq!(r.width(), width);
            }
            prop_assert!(ranges[ranges.len() - 1].width() >= width);
        }

        #[test]
        fn even_split_step_is_floor_of_two_pow_128_over_n(n in 2u32..=u32::MAX) {
            let n = u128::from(n);
            let step = floor_two_pow_128_div(n);
            // step * n <= 2^128, i.e. step * n - 1 = step * (n - 1) + (step - 1) fits.
            let last_key = step.checked_mul(n - 1).and_then(|v| v.checked_add(step - 1));
            prop_assert!(last_key.is_some());
            // (step + 1) * n > 2^128 - 1, i.e. it does not fit.
            prop_assert!((step + 1).checked_mul(n).is_none());
        }

        #[test]
        fn split_children_tile_the_parent((parent, key) in splittable_range_and_key()) {
            let (lower, upper) = parent.split_at(key).expect("key is strictly inside");
            prop_assert_eq!(lower.start, parent.start);
            prop_assert_eq!(upper.end, parent.end);
            prop_assert!(lower.is_adjacent(upper));
            prop_assert!(lower.width() >= 1 && upper.width() >= 1);
            prop_assert_eq!(lower.merge(upper), Some(parent));
            prop_assert_eq!(upper.merge(lower), Some(parent));
        }

        #[test]
        fn midpoint_splits_every_splittable_range(a in any::<u128>(), b in any::<u128>()) {
            let parent = range(a.min(b), a.max(b));
            let split = parent.split_at(parent.midpoint());
            prop_assert_eq!(split.is_ok(), parent.is_splittable());
            if let Ok((lower, upper)) = split {
                // The halves differ in size by at most one key.
                prop_assert!(lower.width().abs_diff(upper.width()) <= 1);
            }
        }

        #[test]
        fn split_rejects_keys_outside_the_bounds(a in any::<u128>(), b in any::<u128>(), key in any::<u128>()) {
            let parent = range(a.min(b), a.max(b));
            let valid = key > parent.start.0.saturating_add(1) && key < parent.end.0;
            prop_assert_eq!(parent.split_at(HashKey(key)).is_ok(), valid);
        }

        #[test]
        fn repeated_splits_and_merges_keep_coverage(
            ops in proptest::collection::vec((any::<bool>(), any::<prop::sample::Index>()), 1..64)
        ) {
            let mut ranges = vec![HashKeyRange::FULL];
            for (split, index) in ops {
                ranges.sort();
                if split {
                    let i = index.index(ranges.len());
                    let parent = ranges[i];
                    if let Ok((lower, upper)) = parent.split_at(parent.midpoint()) {
                        ranges.splice(i..=i, [lower, upper]);
                    }
                } else if ranges.len() > 1 {
                    let i = index.index(ranges.len() - 1);
                    let merged = ranges[i].merge(ranges[i + 1]).expect("neighbors are adjacent");
                    ranges.splice(i..=i + 1, [merged]);
                }
                prop_assert_eq!(check_coverage(&ranges), Ok(()));
            }
        }

        #[test]
        fn coverage_detects_a_removed_range(n in 2u32..64, index in any::<prop::sample::Index>()) {
            let mut ranges = HashKeyRange::even_split(n);
            let removed = ranges.remove(index.index(ranges.len()));
            prop_assert_eq!(check_coverage(&ranges), Err(CoverageError::Gap { missing: removed }));
        }
    }
}
