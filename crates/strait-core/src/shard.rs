//! Shard ids.
//!
//! A shard is named by a per-stream ordinal, assigned in creation order and never reused: the
//! shards of a new stream are 0 through n - 1, and each split or merge takes the next unused
//! ordinals for its children. Kinesis renders the ordinal as `shardId-` followed by twelve
//! zero-padded digits (`shardId-000000000007`), and Strait does too.
//!
//! On input, Kinesis is lenient: it reads the text after the first `-` (or the whole input
//! when there is no `-`) as the ordinal, so `7`, `shardId-7` and `shardId-000000000007` all
//! name the same shard. [`ShardId::parse_loose`] reproduces that rule. Anything it rejects
//! names no shard, which is a ResourceNotFoundException rather than a validation error, once
//! the input has passed the model pattern checked by [`ShardId::violations`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Violation;
use crate::stream::matches_name_pattern;

/// A shard's ordinal within its stream. It displays as `shardId-` plus 12 digits and
/// serializes as the bare number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShardId(pub u32);

impl ShardId {
    /// The largest ordinal Kinesis resolves from text, 2^31 - 1.
    pub const MAX_ORDINAL: u32 = i32::MAX as u32;
    /// The prefix of a rendered shard id.
    pub const PREFIX: &'static str = "shardId-";
    /// The model's pattern for shard ids, as quoted in validation messages.
    pub const PATTERN: &'static str = "[a-zA-Z0-9_.-]+";
    /// The longest shard id the model accepts.
    pub const MAX_LEN: usize = 128;

    /// Returns the shard with this ordinal.
    pub const fn new(ordinal: u32) -> ShardId {
        ShardId(ordinal)
    }

    /// Returns the shard's ordinal.
    pub const fn ordinal(self) -> u32 {
        self.0
    }

    /// Returns the shard with the next ordinal, the id a new shard gets after this one.
    ///
    /// # Panics
    ///
    /// Panics after `u32::MAX`. A stream never comes close: it holds at most 10000 shards and
    /// reshards a few times a day.
    pub fn next(self) -> ShardId {
        ShardId(
            self.0
                .checked_add(1)
                .expect("shard ordinals stay far below u32::MAX"),
        )
    }

    /// Resolves a shard id given as text the way Kinesis does: the text after the first `-`,
    /// or the whole input if it has no `-`, must be one or more ASCII digits naming an
    /// ordinal of at most 2^31 - 1. Leading zeros are allowed. Anything else names no shard.
    pub fn parse_loose(text: &str) -> Option<ShardId> {
        let digits = match text.split_once('-') {
            Some((_, after)) => after,
            None => text,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut ordinal: u32 = 0;
        for digit in digits.bytes() {
            ordinal = ordinal.checked_mul(10)?.checked_add(u32::from(digit - b'0'))?;
            if ordinal > Self::MAX_ORDINAL {
                return None;
            }
        }
        Some(ShardId(ordinal))
    }

    /// Lists the model constraints `value` breaks as a shard id, reported at `field` (e.g.
    /// `shardId`, `shardToSplit`).
    pub fn violations(value: &str, field: &str) -> Vec<Violation> {
        let mut violations = Vec::new();
        if !matches_name_pattern(value) {
            violations.push(Violation::pattern(value, field, Self::PATTERN));
        }
        let len = value.chars().count();
        if len < 1 {
            violations.push(Violation::min_length(value, field, 1));
        }
        if len > Self::MAX_LEN {
            violations.push(Violation::max_length(value, field, Self::MAX_LEN));
        }
        violations
    }
}

impl fmt::Display for ShardId {
    /// Renders the Kinesis form, `shardId-` plus the ordinal padded to 12 digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written into a stack buffer: every put's answer names its shard.
        let mut out = [0u8; Self::PREFIX.len() + 12];
        let (prefix, digits) = out.split_at_mut(Self::PREFIX.len());
        prefix.copy_from_slice(Self::PREFIX.as_bytes());
        // A u32 has at most 10 digits: it always fits, so whether it did is not asked.
        crate::sequence::zero_padded(digits, u64::from(self.0));
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl From<u32> for ShardId {
    fn from(ordinal: u32) -> Self {
        ShardId(ordinal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn displays_like_a_padded_integer_format(ordinal in any::<u32>()) {
            prop_assert_eq!(ShardId(ordinal).to_string(), format!("shardId-{ordinal:012}"));
        }
    }

    #[test]
    fn displays_twelve_padded_digits() {
        assert_eq!(ShardId(0).to_string(), "shardId-000000000000");
        assert_eq!(ShardId(42).to_string(), "shardId-000000000042");
        assert_eq!(ShardId(u32::MAX).to_string(), "shardId-004294967295");
    }

    #[test]
    fn resolves_inputs_loosely_like_kinesis() {
        for text in [
            "1",
            "shardId-1",
            "shardId-000000000001",
            "x-1",
            "-1",
            "0000000000000000001",
        ] {
            assert_eq!(ShardId::parse_loose(text), Some(ShardId(1)), "{text}");
        }
        assert_eq!(
            ShardId::parse_loose("shardId-2147483647"),
            Some(ShardId(2_147_483_647))
        );
        for text in [
            "",
            "shardId-",
            "shardId",
            "shardId-2147483648",
            "shardId-99999999999999999999",
            "shardId-1-2",
            "shardId-a",
            "shardId- 1",
            "shardId-+1",
            "shardId-١",
        ] {
            assert_eq!(ShardId::parse_loose(text), None, "{text}");
        }
    }

    #[test]
    fn next_and_ordinal() {
        assert_eq!(ShardId(3).next(), ShardId(4));
        assert_eq!(ShardId::new(9).ordinal(), 9);
    }

    #[test]
    fn validates_the_model_pattern() {
        assert!(ShardId::violations("shardId-000000000000", "shardId").is_empty());
        let violations = ShardId::violations("?", "shardToSplit");
        assert_eq!(
            violations[0].to_string(),
            "Value '?' at 'shardToSplit' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: [a-zA-Z0-9_.-]+"
        );
        assert_eq!(ShardId::violations("", "shardId").len(), 2);
    }

    #[test]
    fn serializes_as_the_number() {
        assert_eq!(serde_json::to_string(&ShardId(7)).expect("serializes"), "7");
        assert_eq!(
            serde_json::from_str::<ShardId>("7").expect("deserializes"),
            ShardId(7)
        );
    }

    proptest! {
        #[test]
        fn display_round_trips(ordinal in 0..=ShardId::MAX_ORDINAL) {
            let id = ShardId(ordinal);
            prop_assert_eq!(ShardId::parse_loose(&id.to_string()), Some(id));
            prop_assert_eq!(ShardId::parse_loose(&ordinal.to_string()), Some(id));
        }

        #[test]
        fn display_order_matches_ordinal_order(a in any::<u32>(), b in any::<u32>()) {
            prop_assert_eq!(ShardId(a).to_string().cmp(&ShardId(b).to_string()), a.cmp(&b));
        }

        #[test]
        fn loose_parsing_never_panics(text in "\\PC{0,40}") {
            let _ = ShardId::parse_loose(&text);
        }
    }
}
